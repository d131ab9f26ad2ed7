// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface ISwapPool {
    function swap(address tokenIn, uint256 amountIn, uint256 amountOutMin, address to, uint256 deadline)
        external
        returns (uint256);
}

/// @title ReentrantToken — HOSTILE fixture: an ERC-20 whose transfer and
/// transferFrom call back into a configured pool's `swap` once (a re-entry
/// attempt). The failure of the inner call is bubbled up, so a pool with a
/// reentrancy lock makes the whole outer call revert.
contract ReentrantToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    address public immutable owner;
    address public pool;
    bool private entering;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address initialHolder, uint256 supply) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        owner = msg.sender;
        totalSupply = supply;
        balanceOf[initialHolder] = supply;
        emit Transfer(address(0), initialHolder, supply);
    }

    /// Arms (or with address(0) disarms) the re-entry into `pool_`.
    function setPool(address pool_) external {
        require(msg.sender == owner, "owner");
        pool = pool_;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        _reenter();
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "ERC20: allowance");
            allowance[from][msg.sender] = allowed - value;
        }
        _transfer(from, to, value);
        _reenter();
        return true;
    }

    function _reenter() internal {
        if (pool == address(0) || entering) return;
        entering = true;
        // Swap a token's worth back in, paid by this contract itself.
        ISwapPool(pool).swap(address(this), 1, 0, address(this), type(uint256).max);
        entering = false;
    }

    function _transfer(address from, address to, uint256 value) internal {
        require(to != address(0), "ERC20: to zero");
        uint256 bal = balanceOf[from];
        require(bal >= value, "ERC20: balance");
        balanceOf[from] = bal - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
